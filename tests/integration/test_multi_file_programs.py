"""Programs of several files, in every runtime, on the real stack: submitted through Kafka to a
private executor agent of this checkout, built and run in warm gVisor sandboxes as in production.

Each case is built exactly as docs/runtimes.md says (C: every `*.c`; C++: every
`*.cpp`/`*.cc`/`*.cxx`; Go: the top-level files, or a module when a go.mod is given; Java: every
`*.java`; Rust: the crate root and its `mod` tree; TypeScript, Fortran, Ada, Pascal, D, COBOL,
Crystal, Erlang, Kotlin, Scala, OCaml, Haskell, C#: every source file of the language, in any
directory; interpreted languages: the entry file, which imports the others). Headers and data
files sit beside the sources, some in subdirectories. Every language of the registry has a
case; the runtimes with `warm = 0` get on-demand pools, as on a deployed agent, so their runs
start a sandbox each. Since every source file is part of the program, one that the entry file
does not import but that does not compile fails the build (C, Ada, Pascal, Crystal, OCaml,
Haskell).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import msgspec
import pytest
from agent_process import private_agent, private_pipeline

from throwbox_common import runtimes
from throwbox_common.messages import JobFile, RunJob, now_ms

REGISTRY = runtimes.load()

pytestmark = pytest.mark.timeout(600)


@dataclass(frozen=True)
class Program:
    language: str
    files: dict[str, str]
    stdout: str
    entrypoint: str | None = None      # default: the runtime's

    def job(self, runtime: runtimes.Runtime | None = None) -> RunJob:
        # The runtime's default limits with the server's maximum wall and CPU time: these tests
        # check that several files build, not how fast (rustc under gVisor took over 10 s on a
        # loaded machine in a CI rehearsal; kotlinc and scalac need several seconds of CPU).
        runtime = runtime or REGISTRY.resolve(self.language)
        limits = msgspec.structs.replace(REGISTRY.effective_limits(runtime, None), wall_time_ms=REGISTRY.server_max.wall_time_ms,
                                         cpu_time_ms=REGISTRY.server_max.cpu_time_ms)
        return RunJob(
            run_id=f"t-{uuid.uuid4().hex[:20]}", tenant="multi-file-tests", language=runtime.language,
            version=runtime.version, entrypoint=self.entrypoint or runtime.entrypoint,
            files=[JobFile(name=n, content=c.encode()) for n, c in self.files.items()],
            limits=limits, created_at_ms=now_ms(), args=["x"])


PROGRAMS = {
    "c: two sources, a header and a data file": Program("c", {
        "main.c": '#include <stdio.h>\n#include "util.h"\n'
                  'int main(void) {\n  char line[32] = "";\n  FILE *f = fopen("data/input.txt", "r");\n'
                  '  if (!f || !fgets(line, sizeof line, f)) return 3;\n'
                  '  printf("%d %s", add(2, 3), line);\n  return 0;\n}\n',
        "util.h": "int add(int a, int b);\n",
        "util.c": '#include "util.h"\nint add(int a, int b) { return a + b; }\n',
        "data/input.txt": "from a data file\n",
    }, "5 from a data file\n"),
    "cpp: sources in a subdirectory with their header": Program("cpp", {
        "main.cpp": '#include <iostream>\n#include "geometry/area.h"\n'
                    'int main() { std::cout << area(3, 4) << " " << perimeter(3, 4) << "\\n"; }\n',
        "geometry/area.h": "#pragma once\nint area(int w, int h);\nint perimeter(int w, int h);\n",
        "geometry/area.cc": '#include "area.h"\nint area(int w, int h) { return w * h; }\n',
        "geometry/perimeter.cxx": '#include "area.h"\nint perimeter(int w, int h) { return 2 * (w + h); }\n',
    }, "12 14\n"),
    "go: two files of package main": Program("go", {
        "main.go": 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println(greet("go")) }\n',
        "greet.go": 'package main\n\nfunc greet(who string) string { return "hello from " + who }\n',
    }, "hello from go\n"),
    "go: a go.mod module with a package of its own": Program("go", {
        "go.mod": "module example.com/hello\n\ngo 1.19\n",
        "main.go": 'package main\n\nimport (\n\t"fmt"\n\n\t"example.com/hello/greeting"\n)\n\n'
                   'func main() { fmt.Println(greeting.For("module")) }\n',
        "greeting/greeting.go": 'package greeting\n\n// For greets.\nfunc For(who string) string { return "hello, " + who }\n',
    }, "hello, module\n"),
    "java: two classes, one in a package": Program("java", {
        "Main.java": "import util.Strings;\n\npublic class Main {\n  public static void main(String[] args) {\n"
                     '    System.out.println(Strings.shout("java") + " " + args[0]);\n  }\n}\n',
        "util/Strings.java": "package util;\n\npublic class Strings {\n"
                             "  public static String shout(String s) { return s.toUpperCase() + \"!\"; }\n}\n",
    }, "JAVA! x\n"),
    "java: the entrypoint names a class in a package": Program("java", {
        "app/Main.java": "package app;\n\nimport app.model.Point;\n\npublic class Main {\n"
                         "  public static void main(String[] args) { System.out.println(new Point(1, 2)); }\n}\n",
        "app/model/Point.java": "package app.model;\n\npublic record Point(int x, int y) {}\n",
    }, "Point[x=1, y=2]\n", entrypoint="app/Main.java"),
    "rust: a mod tree with a module in a subdirectory": Program("rust", {
        "main.rs": "mod shapes;\nmod util;\n\nfn main() {\n"
                   '    println!("{} {}", shapes::circle::area_floor(2), util::twice(21));\n}\n',
        "shapes.rs": "pub mod circle;\n",
        "shapes/circle.rs": "pub fn area_floor(r: u32) -> u32 { (3.14159 * (r * r) as f64) as u32 }\n",
        "util/mod.rs": "pub fn twice(n: u32) -> u32 { n * 2 }\n",
    }, "12 42\n"),
    "python: a module and a package module imported from the entry file": Program("python", {
        "main.py": "import sys\nfrom helpers import shout\nfrom pkg.inner import double\n"
                   "print(shout('py'), double(21), sys.argv[1])\n",
        "helpers.py": "def shout(s):\n    return s.upper() + '!'\n",
        "pkg/inner.py": "def double(n):\n    return n * 2\n",
    }, "PY! 42 x\n"),
    "javascript: modules required from the entry file": Program("javascript", {
        "main.js": "const { shout } = require('./lib/shout');\nconst data = require('./data.json');\n"
                   "console.log(shout('node'), data.n, process.argv[2]);\n",
        "lib/shout.js": "exports.shout = (s) => s.toUpperCase() + '!';\n",
        "data.json": '{"n": 42}\n',
    }, "NODE! 42 x\n"),
    "ruby: a file required relative to the entry file": Program("ruby", {
        "main.rb": "require_relative 'lib/shout'\nputs \"#{Shout.it('rb')} #{ARGV[0]}\"\n",
        "lib/shout.rb": "module Shout\n  def self.it(s) = s.upcase + '!'\nend\n",
    }, "RB! x\n"),
    "bash: a file sourced from the entry file": Program("bash", {
        "main.sh": 'source "$(dirname "$0")/lib/shout.sh"\nshout bash "$1"\n',
        "lib/shout.sh": 'shout() { echo "${1^^}! $2"; }\n',
    }, "BASH! x\n"),
    # The languages of the trixie images.
    "typescript: a module imported from the entry file (every *.ts compiled)": Program("typescript", {
        "main.ts": 'import { shout } from "./lib/shout";\n\nconsole.log(shout("typescript"), process.argv[2]);\n',
        "lib/shout.ts": "export function shout(s: string): string {\n  return s.toUpperCase() + \"!\";\n}\n",
    }, "TYPESCRIPT! x\n"),
    "php: a file required from a subdirectory": Program("php", {
        "main.php": "<?php\nrequire __DIR__ . '/lib/shout.php';\necho shout('php') . ' ' . $argv[1] . \"\\n\";\n",
        "lib/shout.php": "<?php\nfunction shout(string $s): string { return strtoupper($s) . '!'; }\n",
    }, "PHP! x\n"),
    "perl: a module found by use on -I.": Program("perl", {
        "main.pl": "use strict;\nuse Shout;\nprint Shout::it('perl'), \" $ARGV[0]\\n\";\n",
        "Shout.pm": "package Shout;\nsub it { return uc($_[0]) . '!'; }\n1;\n",
    }, "PERL! x\n"),
    "lua: a module required from a subdirectory": Program("lua", {
        "main.lua": 'local shout = require("lib.shout")\nprint(shout("lua") .. " " .. arg[1])\n',
        "lib/shout.lua": "return function(s) return s:upper() .. \"!\" end\n",
    }, "LUA! x\n"),
    "sqlite3: a script read from the entry script": Program("sqlite3", {
        "main.sql": ".read lib/words.sql\nSELECT upper(word) || '! ' || (SELECT arg FROM args WHERE n = 1) FROM words;\n",
        "lib/words.sql": "CREATE TABLE words(word TEXT);\nINSERT INTO words VALUES ('sqlite3');\n",
    }, "SQLITE3! x\n"),
    "tcl: a file sourced from the entry script": Program("tcl", {
        "main.tcl": "source [file join [file dirname [info script]] lib shout.tcl]\nputs \"[shout tcl] [lindex $argv 0]\"\n",
        "lib/shout.tcl": "proc shout {s} { return \"[string toupper $s]!\" }\n",
    }, "TCL! x\n"),
    "awk: a library @included": Program("awk", {
        "main.awk": '@include "lib/shout.awk"\nBEGIN { print shout("awk") " " ARGV[1]; exit 0 }\n',
        "lib/shout.awk": 'function shout(s) { return toupper(s) "!" }\n',
    }, "AWK! x\n"),
    "scheme: a Guile module under the run directory": Program("scheme", {
        "main.scm": "(use-modules (lib shout))\n(display (string-append (shout \"scheme\") \" \" (cadr (command-line))))\n"
                    "(newline)\n",
        "lib/shout.scm": "(define-module (lib shout) #:export (shout))\n"
                         "(define (shout s) (string-append (string-upcase s) \"!\"))\n",
    }, "SCHEME! x\n"),
    "r: a file sourced from the entry script": Program("r", {
        "main.r": 'source("lib/shout.r")\ncat(shout("r"), " ", commandArgs(trailingOnly = TRUE)[1], "\\n", sep = "")\n',
        "lib/shout.r": 'shout <- function(s) paste0(toupper(s), "!")\n',
    }, "R! x\n"),
    "fortran: a module used by the program (compiled first)": Program("fortran", {
        "main.f90": "program main\n  use shout_mod\n  character(len=32) :: arg\n  call get_command_argument(1, arg)\n"
                    "  print '(A)', shout('fortran') // ' ' // trim(arg)\nend program main\n",
        "shout_mod.f90": "module shout_mod\ncontains\n  function shout(s) result(r)\n    character(len=*), intent(in) :: s\n"
                         "    character(len=len(s)+1) :: r\n    integer :: i\n    r = s // '!'\n    do i = 1, len(s)\n"
                         "      if (r(i:i) >= 'a' .and. r(i:i) <= 'z') r(i:i) = achar(iachar(r(i:i)) - 32)\n"
                         "    end do\n  end function shout\nend module shout_mod\n",
    }, "FORTRAN! x\n"),
    "ada: a package spec and body with'ed by the main procedure": Program("ada", {
        "main.adb": "with Ada.Text_IO;\nwith Ada.Command_Line;\nwith Shout;\nprocedure Main is\nbegin\n"
                    "   Ada.Text_IO.Put_Line (Shout.It (\"ada\") & \" \" & Ada.Command_Line.Argument (1));\nend Main;\n",
        "shout.ads": "package Shout is\n   function It (S : String) return String;\nend Shout;\n",
        "shout.adb": "with Ada.Characters.Handling;\npackage body Shout is\n   function It (S : String) return String is\n"
                     "   begin\n      return Ada.Characters.Handling.To_Upper (S) & \"!\";\n   end It;\nend Shout;\n",
    }, "ADA! x\n"),
    "ada: a package in a subdirectory (every directory searched)": Program("ada", {
        "main.adb": "with Ada.Text_IO;\nwith Ada.Command_Line;\nwith Twice;\nprocedure Main is\nbegin\n"
                    "   Ada.Text_IO.Put_Line (Integer'Image (Twice.Of_It (21)) & \" \" & Ada.Command_Line.Argument (1));\n"
                    "end Main;\n",
        "lib/twice.ads": "package Twice is\n   function Of_It (N : Integer) return Integer;\nend Twice;\n",
        "lib/twice.adb": "package body Twice is\n   function Of_It (N : Integer) return Integer is (N * 2);\nend Twice;\n",
    }, " 42 x\n"),
    "pascal: a unit used by the program": Program("pascal", {
        "main.pas": "program Main;\nuses shout;\nbegin\n  writeln(ShoutIt('pascal'), ' ', ParamStr(1));\nend.\n",
        "shout.pas": "unit shout;\ninterface\nfunction ShoutIt(s: string): string;\nimplementation\nuses SysUtils;\n"
                     "function ShoutIt(s: string): string;\nbegin\n  ShoutIt := UpperCase(s) + '!';\nend;\nend.\n",
    }, "PASCAL! x\n"),
    "pascal: a unit in a subdirectory (every directory a unit path)": Program("pascal", {
        "main.pas": "program Main;\nuses twice;\nbegin\n  writeln(TwiceOf(21), ' ', ParamStr(1));\nend.\n",
        "units/twice.pas": "unit twice;\ninterface\nfunction TwiceOf(n: integer): integer;\nimplementation\n"
                           "function TwiceOf(n: integer): integer;\nbegin\n  TwiceOf := n * 2;\nend;\nend.\n",
    }, "42 x\n"),
    "d: a module in a subdirectory": Program("d", {
        "main.d": "import std.stdio;\nimport lib.shout;\n\nvoid main(string[] args) { writeln(shout(\"d\"), \" \", args[1]); }\n",
        "lib/shout.d": "module lib.shout;\nimport std.uni : toUpper;\n\nstring shout(string s) { return s.toUpper ~ \"!\"; }\n",
    }, "D! x\n"),
    "cobol: a subprogram CALLed by the main program": Program("cobol", {
        "main.cob": "       IDENTIFICATION DIVISION.\n       PROGRAM-ID. MAIN.\n       DATA DIVISION.\n"
                    "       WORKING-STORAGE SECTION.\n       01 WORD PIC X(5) VALUE \"cobol\".\n"
                    "       01 ARG  PIC X(8).\n       PROCEDURE DIVISION.\n           CALL \"SHOUT\" USING WORD\n"
                    "           ACCEPT ARG FROM ARGUMENT-VALUE\n           DISPLAY WORD \"! \" FUNCTION TRIM(ARG)\n"
                    "           STOP RUN.\n",
        "shout.cob": "       IDENTIFICATION DIVISION.\n       PROGRAM-ID. SHOUT.\n       DATA DIVISION.\n"
                     "       LINKAGE SECTION.\n       01 WORD PIC X(5).\n       PROCEDURE DIVISION USING WORD.\n"
                     "           MOVE FUNCTION UPPER-CASE(WORD) TO WORD\n           GOBACK.\n",
    }, "COBOL! x\n"),
    "crystal: a file required from a subdirectory": Program("crystal", {
        "main.cr": 'require "./lib/shout"\n\nputs "#{Shout.it("crystal")} #{ARGV[0]}"\n',
        "lib/shout.cr": "module Shout\n  def self.it(s : String) : String\n    s.upcase + \"!\"\n  end\nend\n",
    }, "CRYSTAL! x\n"),
    "crystal: a required class subclassed and a file not required compiled in": Program("crystal", {
        "main.cr": 'require "./shapes/shape"\n\nclass Square < Shape\n  def initialize(@side : Int32)\n  end\n\n'
                   '  def area : Int32\n    @side * @side\n  end\nend\n\n'
                   'puts "#{Square.new(3).area} #{Extra.shout("crystal")} #{ARGV[0]}"\n',
        "shapes/shape.cr": "abstract class Shape\n  abstract def area : Int32\nend\n",
        "extra/extra.cr": "module Extra\n  def self.shout(s : String) : String\n    s.upcase + \"!\"\n  end\nend\n",
    }, "9 CRYSTAL! x\n"),
    "erlang: two modules": Program("erlang", {
        "main.erl": "-module(main).\n-export([main/1]).\n\nmain([Arg | _]) -> io:format(\"~s ~s~n\", [shout:it(\"erlang\"), Arg]).\n",
        "shout.erl": "-module(shout).\n-export([it/1]).\n\nit(S) -> string:uppercase(S) ++ \"!\".\n",
    }, "ERLANG! x\n"),
    "elixir: a module of an .ex file used by the script": Program("elixir", {
        "main.exs": "[arg | _] = System.argv()\nIO.puts(\"#{Shout.it(\"elixir\")} #{arg}\")\n",
        "lib/shout.ex": "defmodule Shout do\n  def it(s), do: String.upcase(s) <> \"!\"\nend\n",
    }, "ELIXIR! x\n"),
    "kotlin: two files, one in a package": Program("kotlin", {
        "main.kt": "import util.shout\n\nfun main(args: Array<String>) {\n    println(shout(\"kotlin\") + \" \" + args[0])\n}\n",
        "util/Shout.kt": "package util\n\nfun shout(s: String): String = s.uppercase() + \"!\"\n",
    }, "KOTLIN! x\n"),
    "scala: two files": Program("scala", {
        "main.scala": "@main def run(arg: String): Unit = println(s\"${Shout.it(\"scala\")} $arg\")\n",
        "util/Shout.scala": "object Shout:\n  def it(s: String): String = s.toUpperCase + \"!\"\n",
    }, "SCALA! x\n"),
    "clojure: a namespace required from the class path": Program("clojure", {
        "main.clj": "(require '[lib.shout :as s])\n(println (s/it \"clojure\") (first *command-line-args*))\n",
        "lib/shout.clj": "(ns lib.shout (:require [clojure.string :as str]))\n(defn it [s] (str (str/upper-case s) \"!\"))\n",
    }, "CLOJURE! x\n"),
    "ocaml: two modules": Program("ocaml", {
        "main.ml": "let () = Printf.printf \"%s %s\\n\" (Shout.it \"ocaml\") Sys.argv.(1)\n",
        "shout.ml": "let it s = String.uppercase_ascii s ^ \"!\"\n",
    }, "OCAML! x\n"),
    "ocaml: a module with an interface in a subdirectory": Program("ocaml", {
        "main.ml": "let () = Printf.printf \"%d %s\\n\" (Twice.of_it 21) Sys.argv.(1)\n",
        "lib/twice.mli": "val of_it : int -> int\n",
        "lib/twice.ml": "let of_it n = n * 2\n",
    }, "42 x\n"),
    "lisp: a file loaded from a subdirectory": Program("lisp", {
        "main.lisp": "(load \"lib/shout.lisp\")\n(format t \"~a ~a~%\" (shout \"lisp\") (second sb-ext:*posix-argv*))\n",
        "lib/shout.lisp": "(defun shout (s) (concatenate 'string (string-upcase s) \"!\"))\n",
    }, "LISP! x\n"),
    "racket: a module required from a subdirectory": Program("racket", {
        "main.rkt": "#lang racket/base\n(require \"lib/shout.rkt\")\n"
                    "(printf \"~a ~a\\n\" (shout \"racket\") (vector-ref (current-command-line-arguments) 0))\n",
        "lib/shout.rkt": "#lang racket/base\n(provide shout)\n(define (shout s) (string-append (string-upcase s) \"!\"))\n",
    }, "RACKET! x\n"),
    "prolog: a module used from a subdirectory": Program("prolog", {
        "main.pl": ":- use_module(lib/shout).\n:- initialization(main, main).\n\n"
                   "main([Arg|_]) :- shout(prolog, S), format(\"~w ~w~n\", [S, Arg]).\n",
        "lib/shout.pl": ":- module(shout, [shout/2]).\n\n"
                        "shout(Word, S) :- upcase_atom(Word, Up), atom_concat(Up, '!', S).\n",
    }, "PROLOG! x\n"),
    "haskell: a hierarchical module imported by Main": Program("haskell", {
        "main.hs": "import Lib.Shout (shout)\nimport System.Environment (getArgs)\n\n"
                   "main :: IO ()\nmain = do\n  args <- getArgs\n  putStrLn (shout \"haskell\" ++ \" \" ++ head args)\n",
        "Lib/Shout.hs": "module Lib.Shout (shout) where\n\nimport Data.Char (toUpper)\n\n"
                        "shout :: String -> String\nshout s = map toUpper s ++ \"!\"\n",
    }, "HASKELL! x\n"),
    "haskell: a module in a subdirectory found by its name, not its path": Program("haskell", {
        "main.hs": "import Twice (twice)\nimport System.Environment (getArgs)\n\n"
                   "main :: IO ()\nmain = do\n  args <- getArgs\n  putStrLn (show (twice 21) ++ \" \" ++ head args)\n",
        "helpers/Twice.hs": "module Twice (twice) where\n\ntwice :: Int -> Int\ntwice n = n * 2\n",
    }, "42 x\n"),
    "csharp: two files, one class in a namespace": Program("csharp", {
        "main.cs": "using System;\n\npublic class Program {\n    public static void Main(string[] args) {\n"
                   "        Console.WriteLine(Lib.Shout.It(\"csharp\") + \" \" + args[0]);\n    }\n}\n",
        "Lib/Shout.cs": "namespace Lib {\n    public static class Shout {\n"
                        "        public static string It(string s) { return s.ToUpper() + \"!\"; }\n    }\n}\n",
    }, "CSHARP! x\n"),
}


# Every case in every version of its language (runtimes.toml: the default and the older ones).
# The main program need not be the first file of the request (cobc -x makes the first it is
# given the main program: the entry file is put first).
PROGRAMS["cobol: the main program listed after its subprogram"] = Program(
    "cobol", dict(reversed(PROGRAMS["cobol: a subprogram CALLed by the main program"].files.items())), "COBOL! x\n")

CASES = [(case, r) for case, program in PROGRAMS.items() for r in REGISTRY.runtimes if r.language == program.language]


def test_every_language_of_the_registry_has_a_multi_file_program():
    assert {r.language for r in REGISTRY.runtimes} == {p.language for p in PROGRAMS.values()}


@pytest.fixture(scope="module")
def agent():
    # One warm sandbox for the runtimes that keep one, an on-demand pool for those with warm = 0.
    pools = {r: min(r.warm, 1) for r in sorted({r for _, r in CASES}, key=lambda r: r.key)}
    with private_agent(pools, prefix="multi", start_timeout_s=300) as a:
        yield a


@pytest.fixture
async def pipe(agent):
    async with private_pipeline(agent) as p:
        yield p


@pytest.mark.parametrize(("case", "runtime"), CASES, ids=[f"{c} [{r.key}]" for c, r in CASES])
async def test_a_program_of_several_files_builds_and_runs_in_its_runtime(pipe, case, runtime):
    program = PROGRAMS[case]
    job = program.job(runtime)
    r = (await pipe.run(job, 240)).result
    compile_output = (r.compile.stdout + r.compile.stderr) if r.compile else ""
    assert (r.status, r.outcome, r.stdout) == ("completed", "ok", program.stdout), (r.error, r.stderr, compile_output)
    assert r.stderr == ""
    assert r.version == runtime.version
    compiled = runtime.compiled
    assert (r.compile is not None) is compiled
    if compiled:
        assert (r.compile.exit_code, r.compile.outcome) == (0, "ok"), compile_output


async def test_a_c_program_whose_second_source_does_not_compile_ends_as_compile_error(pipe):
    program = Program("c", {
        "main.c": '#include "util.h"\nint main(void) { return add(1, 2) - 3; }\n',
        "util.h": "int add(int a, int b);\n",
        "util.c": "int add(int a, int b) { return a + b }\n",     # the missing ';' is in util.c
    }, "")
    r = (await pipe.run(program.job(), 240)).result
    assert (r.status, r.outcome) == ("completed", "compile_error")
    assert "util.c" in r.compile.stderr and "error" in r.compile.stderr


# A file that the entry file does not import, in a subdirectory, with a compile error: every
# source of the language is part of the program, so the build fails and names it.
UNIMPORTED_BROKEN_FILES = {
    "ada": ({"main.adb": "with Ada.Text_IO;\nprocedure Main is\nbegin\n   Ada.Text_IO.Put_Line (\"main\");\nend Main;\n",
             "extra/broken.adb": "procedure Broken is\nbegin\n   Missing_Symbol;\nend Broken;\n"},
            ("broken.adb", "Missing_Symbol")),
    "pascal": ({"main.pas": "program Main;\nbegin\n  writeln('main');\nend.\n",
                "extra/broken.pas": "unit broken;\ninterface\nimplementation\nprocedure P;\nbegin\n"
                                    "  MissingSymbol;\nend;\nend.\n"},
               ("broken.pas", "MissingSymbol")),
    "crystal": ({"main.cr": 'puts "main"\n', "extra/broken.cr": "missing_symbol\n"},
                ("extra/broken.cr", "missing_symbol")),
    "ocaml": ({"main.ml": "let () = print_endline \"main\"\n", "extra/broken.ml": "let () = missing_symbol ()\n"},
              ("extra/broken.ml", "missing_symbol")),
    "haskell": ({"main.hs": "main :: IO ()\nmain = putStrLn \"main\"\n",
                 "extra/Broken.hs": "module Broken where\n\nbroken :: Int\nbroken = missingSymbol\n"},
                ("extra/Broken.hs", "missingSymbol")),
}
BROKEN_CASES = [(language, r) for language in UNIMPORTED_BROKEN_FILES for r in REGISTRY.runtimes if r.language == language]


@pytest.mark.parametrize(("language", "runtime"), BROKEN_CASES, ids=[f"{lang} [{r.key}]" for lang, r in BROKEN_CASES])
async def test_a_file_the_entry_does_not_import_that_does_not_compile_ends_the_run_as_compile_error(pipe, language, runtime):
    files, culprits = UNIMPORTED_BROKEN_FILES[language]
    r = (await pipe.run(Program(language, files, "").job(runtime), 240)).result
    compile_output = (r.compile.stdout + r.compile.stderr) if r.compile else ""
    assert (r.status, r.outcome) == ("completed", "compile_error"), (r.error, r.stdout, compile_output)
    assert r.compile.exit_code != 0 and r.stdout == ""
    assert all(c in compile_output for c in culprits), compile_output
