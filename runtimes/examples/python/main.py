import sys

name = sys.stdin.read().strip()
print(f"Hello, {name}!")
