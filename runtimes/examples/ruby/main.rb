name = ($stdin.gets || "").strip
puts "Hello, #{name}!"
unless ARGV.empty?
  ARGV.each { |arg| puts "arg: #{arg}" }
  puts "Grüße, 世界 ✓"
  exit 3
end
