import sys

name = sys.stdin.readline().strip()
print(f"Hello, {name}!")
if len(sys.argv) > 1:
    for arg in sys.argv[1:]:
        print(f"arg: {arg}")
    print("Grüße, 世界 ✓")
    sys.exit(3)
