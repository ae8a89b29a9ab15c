local name = io.read("l") or ""
print("Hello, " .. name .. "!")
if #arg > 0 then
  for _, a in ipairs(arg) do print("arg: " .. a) end
  print("Grüße, 世界 ✓")
  os.exit(3)
end
