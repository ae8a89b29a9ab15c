name = case IO.gets("") do
  :eof -> ""
  line -> String.trim(line)
end
IO.puts("Hello, #{name}!")
args = System.argv()
if args != [] do
  Enum.each(args, fn arg -> IO.puts("arg: #{arg}") end)
  IO.puts("Grüße, 世界 ✓")
  System.halt(3)
end
