gets stdin name
puts "Hello, $name!"
if {[llength $argv] > 0} {
    foreach arg $argv { puts "arg: $arg" }
    puts "Grüße, 世界 ✓"
    exit 3
}
