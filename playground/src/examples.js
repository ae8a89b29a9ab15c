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
  // The Debian trixie runtimes.
  typescript: ["main.ts", `import * as fs from "fs";

console.log("Hello from TypeScript on Node.js " + process.version);
console.log("What is your name?");
const name: string = fs.readFileSync(0, "utf8").split("\\n")[0].trim() || "stranger";
console.log(\`Nice to meet you, \${name}!\`);
`],
  php: ["main.php", `<?php
echo "Hello from PHP " . PHP_VERSION . "\\n";
echo "What is your name?\\n";
$name = trim((string) fgets(STDIN));
echo "Nice to meet you, " . ($name === "" ? "stranger" : $name) . "!\\n";
`],
  perl: ["main.pl", `use strict;
use warnings;

printf "Hello from Perl %vd\\n", $^V;
print "What is your name?\\n";
my $name = <STDIN> // "";
chomp $name;
$name = "stranger" if $name eq "";
print "Nice to meet you, $name!\\n";
`],
  lua: ["main.lua", `print("Hello from " .. _VERSION)
print("What is your name?")
local name = io.read("l") or ""
if name == "" then name = "stranger" end
print("Nice to meet you, " .. name .. "!")
`],
  sqlite3: ["main.sql", `-- stdin arrives as the table stdin(n, line), the arguments as args(n, arg).
SELECT 'Hello from SQLite ' || sqlite_version();
SELECT 'What is your name?';
SELECT 'Nice to meet you, ' || coalesce(nullif((SELECT line FROM stdin WHERE n = 1), ''), 'stranger') || '!';
`],
  tcl: ["main.tcl", `puts "Hello from Tcl [info patchlevel]"
puts "What is your name?"
if {[gets stdin name] <= 0} { set name "stranger" }
puts "Nice to meet you, $name!"
`],
  awk: ["main.awk", `BEGIN {
    print "Hello from " PROCINFO["version"] " (GNU awk)"
    print "What is your name?"
    if ((getline name < "/dev/stdin") <= 0 || name == "") name = "stranger"
    print "Nice to meet you, " name "!"
}
`],
  scheme: ["main.scm", `(use-modules (ice-9 rdelim))

(display (string-append "Hello from Guile " (version) "\\n"))
(display "What is your name?\\n")
(define line (read-line))
(define name (if (or (eof-object? line) (string-null? line)) "stranger" line))
(display (string-append "Nice to meet you, " name "!\\n"))
`],
  r: ["main.r", `cat("Hello from", R.version.string, "\\n")
cat("What is your name?\\n")
name <- readLines(file("stdin"), n = 1)
if (length(name) == 0 || name == "") name <- "stranger"
cat("Nice to meet you, ", name, "!\\n", sep = "")
`],
  fortran: ["main.f90", `program main
  implicit none
  character(len=128) :: name
  integer :: ios
  print '(A)', 'Hello from Fortran'
  print '(A)', 'What is your name?'
  name = ''
  read (*, '(A)', iostat=ios) name
  if (len_trim(name) == 0) name = 'stranger'
  print '(A)', 'Nice to meet you, ' // trim(name) // '!'
end program main
`],
  ada: ["main.adb", `with Ada.Text_IO; use Ada.Text_IO;

procedure Main is
   Line : String (1 .. 128);
   Last : Natural := 0;
begin
   Put_Line ("Hello from Ada");
   Put_Line ("What is your name?");
   if not End_Of_File then
      Get_Line (Line, Last);
   end if;
   if Last = 0 then
      Put_Line ("Nice to meet you, stranger!");
   else
      Put_Line ("Nice to meet you, " & Line (1 .. Last) & "!");
   end if;
end Main;
`],
  pascal: ["main.pas", `program Main;

var
  name: string;
begin
  writeln('Hello from Free Pascal');
  writeln('What is your name?');
  name := '';
  if not eof then
    readln(name);
  if name = '' then
    name := 'stranger';
  writeln('Nice to meet you, ', name, '!');
end.
`],
  d: ["main.d", `import std.stdio;
import std.string : strip;

void main()
{
    writeln("Hello from D");
    writeln("What is your name?");
    auto line = stdin.readln();
    auto name = line is null ? "" : line.strip;
    writeln("Nice to meet you, ", name.length ? name : "stranger", "!");
}
`],
  cobol: ["main.cob", `       IDENTIFICATION DIVISION.
       PROGRAM-ID. MAIN.
       DATA DIVISION.
       WORKING-STORAGE SECTION.
       01 NAME PIC X(128) VALUE SPACES.
       PROCEDURE DIVISION.
           DISPLAY "Hello from COBOL"
           DISPLAY "What is your name?"
           ACCEPT NAME
           IF NAME = SPACES
               MOVE "stranger" TO NAME
           END-IF
           DISPLAY "Nice to meet you, " FUNCTION TRIM(NAME) "!"
           STOP RUN.
`],
  crystal: ["main.cr", `puts "Hello from Crystal #{Crystal::VERSION}"
puts "What is your name?"
name = (STDIN.gets || "").strip
puts "Nice to meet you, #{name.empty? ? "stranger" : name}!"
`],
  erlang: ["main.erl", `-module(main).
-export([main/1]).

main(_Args) ->
    io:format("Hello from Erlang/OTP ~s~n", [erlang:system_info(otp_release)]),
    io:format("What is your name?~n"),
    Name = case io:get_line("") of
               eof -> "";
               Line -> string:trim(Line)
           end,
    io:format("Nice to meet you, ~ts!~n", [case Name of "" -> "stranger"; _ -> Name end]).
`],
  elixir: ["main.exs", `IO.puts("Hello from Elixir #{System.version()}")
IO.puts("What is your name?")
name = case IO.gets("") do
  :eof -> ""
  line -> String.trim(line)
end
IO.puts("Nice to meet you, #{if name == "", do: "stranger", else: name}!")
`],
  kotlin: ["main.kt", `fun main() {
    println("Hello from Kotlin \${KotlinVersion.CURRENT}")
    println("What is your name?")
    val name = readLine()?.trim().orEmpty().ifEmpty { "stranger" }
    println("Nice to meet you, $name!")
}
`],
  scala: ["main.scala", `@main def hello(): Unit =
  println("Hello from Scala 3")
  println("What is your name?")
  val name = Option(scala.io.StdIn.readLine()).map(_.trim).filter(_.nonEmpty).getOrElse("stranger")
  println(s"Nice to meet you, $name!")
`],
  clojure: ["main.clj", `(require '[clojure.string :as str])

(println "Hello from Clojure" (clojure-version))
(println "What is your name?")
(let [name (str/trim (or (read-line) ""))]
  (println (str "Nice to meet you, " (if (str/blank? name) "stranger" name) "!")))
`],
  ocaml: ["main.ml", `let () =
  Printf.printf "Hello from OCaml %s\\n" Sys.ocaml_version;
  print_endline "What is your name?";
  let name = try String.trim (input_line stdin) with End_of_file -> "" in
  Printf.printf "Nice to meet you, %s!\\n" (if name = "" then "stranger" else name)
`],
  lisp: ["main.lisp", `(format t "Hello from ~a ~a~%" (lisp-implementation-type) (lisp-implementation-version))
(format t "What is your name?~%")
(let ((name (string-trim " " (or (read-line *standard-input* nil) ""))))
  (format t "Nice to meet you, ~a!~%" (if (string= name "") "stranger" name)))
`],
  racket: ["main.rkt", `#lang racket/base
(require racket/string)

(printf "Hello from Racket ~a\\n" (version))
(displayln "What is your name?")
(define line (read-line))
(define name (if (eof-object? line) "" (string-trim line)))
(printf "Nice to meet you, ~a!\\n" (if (string=? name "") "stranger" name))
`],
  prolog: ["main.pl", `:- initialization(main, main).

main(_) :-
    current_prolog_flag(version, V),
    format("Hello from SWI-Prolog ~w~n", [V]),
    format("What is your name?~n"),
    read_line_to_string(user_input, Line),
    (   (Line == end_of_file ; Line == "")
    ->  Name = "stranger"
    ;   Name = Line
    ),
    format("Nice to meet you, ~w!~n", [Name]).
`],
  haskell: ["main.hs", `import System.IO

main :: IO ()
main = do
  putStrLn "Hello from Haskell (GHC)"
  putStrLn "What is your name?"
  eof <- isEOF
  line <- if eof then return "" else getLine
  let name = if null line then "stranger" else line
  putStrLn ("Nice to meet you, " ++ name ++ "!")
`],
  csharp: ["main.cs", `using System;

public class Program
{
    public static void Main()
    {
        Console.WriteLine("Hello from C# on Mono " + Environment.Version);
        Console.WriteLine("What is your name?");
        string name = (Console.ReadLine() ?? "").Trim();
        Console.WriteLine("Nice to meet you, " + (name == "" ? "stranger" : name) + "!");
    }
}
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
