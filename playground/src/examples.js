// One example program per language: it prints, asks for a line of input, and answers.
// (Run it, then type in the Input line; as a function its JSON input arrives as that line.)

export const EXAMPLES = {
  python: ["main.py", `import sys

print("Hello from Python", sys.version.split()[0])
print("What is your name?")
name = sys.stdin.readline().strip() or "stranger"
print(f"Nice to meet you, {name}!")
`],
  javascript: ["main.js", `const readline = require("node:readline");

console.log("Hello from Node.js", process.version);
console.log("What is your name?");
const rl = readline.createInterface({ input: process.stdin });
let answered = false;
rl.once("line", (line) => {
  answered = true;
  console.log(\`Nice to meet you, \${line.trim() || "stranger"}!\`);
  rl.close();
});
rl.on("close", () => { if (!answered) console.log("Nice to meet you, stranger!"); });
`],
  c: ["main.c", `#include <stdio.h>
#include <string.h>

int main(void) {
    char name[128] = "stranger";
    printf("Hello from C\\nWhat is your name?\\n");
    fflush(stdout);
    if (fgets(name, sizeof name, stdin)) name[strcspn(name, "\\n")] = 0;
    printf("Nice to meet you, %s!\\n", name[0] ? name : "stranger");
    return 0;
}
`],
  cpp: ["main.cpp", `#include <iostream>
#include <string>

int main() {
    std::cout << "Hello from C++" << std::endl << "What is your name?" << std::endl;
    std::string name;
    if (!std::getline(std::cin, name) || name.empty()) name = "stranger";
    std::cout << "Nice to meet you, " << name << "!" << std::endl;
}
`],
  go: ["main.go", `package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strings"
)

func main() {
	fmt.Println("Hello from Go", runtime.Version())
	fmt.Println("What is your name?")
	line, _ := bufio.NewReader(os.Stdin).ReadString('\\n')
	name := strings.TrimSpace(line)
	if name == "" {
		name = "stranger"
	}
	fmt.Printf("Nice to meet you, %s!\\n", name)
}
`],
  java: ["Main.java", `import java.io.BufferedReader;
import java.io.InputStreamReader;

public class Main {
    public static void main(String[] args) throws Exception {
        System.out.println("Hello from Java " + System.getProperty("java.version"));
        System.out.println("What is your name?");
        String name = new BufferedReader(new InputStreamReader(System.in)).readLine();
        if (name == null || name.isBlank()) name = "stranger";
        System.out.println("Nice to meet you, " + name.strip() + "!");
    }
}
`],
  rust: ["main.rs", `use std::io::{self, BufRead};

fn main() {
    println!("Hello from Rust");
    println!("What is your name?");
    let mut name = String::new();
    io::stdin().lock().read_line(&mut name).ok();
    let name = name.trim();
    println!("Nice to meet you, {}!", if name.is_empty() { "stranger" } else { name });
}
`],
  ruby: ["main.rb", `puts "Hello from Ruby #{RUBY_VERSION}"
puts "What is your name?"
$stdout.flush
name = ($stdin.gets || "").strip
puts "Nice to meet you, #{name.empty? ? "stranger" : name}!"
`],
  bash: ["main.sh", `echo "Hello from Bash $BASH_VERSION"
echo "What is your name?"
read -r name || true
echo "Nice to meet you, \${name:-stranger}!"
`],
};

const EXTENSIONS = {
  python: "py", javascript: "js", typescript: "ts", c: "c", cpp: "cpp", go: "go", java: "java",
  rust: "rs", ruby: "rb", bash: "sh",
};

export function exampleFor(language) {
  const known = EXAMPLES[language];
  if (known) return { name: known[0], content: known[1] };
  const ext = EXTENSIONS[language] || "txt";
  return { name: `main.${ext}`, content: "" };
}

export function extensionFor(language) {
  return EXTENSIONS[language] || exampleFor(language).name.split(".").pop();
}
