read -r name
echo "Hello, ${name}!"
if [ $# -gt 0 ]; then
  for arg in "$@"; do echo "arg: $arg"; done
  echo "Grüße, 世界 ✓"
  exit 3
fi
