name = $stdin.read.to_s.strip
puts "Hello, #{name}!"
