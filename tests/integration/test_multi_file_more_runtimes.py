"""Programs of several files in the languages with modules of the trixie images, built and run
by the real launcher under gVisor (tests/launcher_client.py; no stack needed), exactly as
docs/runtimes.md says each runtime builds a request's files. Each program is run with the one
argument "x" and prints "<LANGUAGE>! x".
"""

from __future__ import annotations

import pytest
from test_runtime_images import REGISTRY, REPO, run_runtime

PROGRAMS: dict[str, dict[str, str]] = {
    "typescript": {
        "main.ts": 'import { shout } from "./lib/shout";\n\nconsole.log(shout("typescript"), process.argv[2]);\n',
        "lib/shout.ts": "export function shout(s: string): string {\n  return s.toUpperCase() + \"!\";\n}\n",
    },
    "php": {
        "main.php": "<?php\nrequire __DIR__ . '/lib/shout.php';\necho shout('php') . ' ' . $argv[1] . \"\\n\";\n",
        "lib/shout.php": "<?php\nfunction shout(string $s): string { return strtoupper($s) . '!'; }\n",
    },
    "perl": {
        "main.pl": "use strict;\nuse Shout;\nprint Shout::it('perl'), \" $ARGV[0]\\n\";\n",
        "Shout.pm": "package Shout;\nsub it { return uc($_[0]) . '!'; }\n1;\n",
    },
    "lua": {
        "main.lua": 'local shout = require("lib.shout")\nprint(shout("lua") .. " " .. arg[1])\n',
        "lib/shout.lua": "return function(s) return s:upper() .. \"!\" end\n",
    },
    "sqlite3": {
        "main.sql": ".read lib/words.sql\nSELECT upper(word) || '! ' || (SELECT arg FROM args WHERE n = 1) FROM words;\n",
        "lib/words.sql": "CREATE TABLE words(word TEXT);\nINSERT INTO words VALUES ('sqlite3');\n",
    },
    "tcl": {
        "main.tcl": "source [file join [file dirname [info script]] lib shout.tcl]\nputs \"[shout tcl] [lindex $argv 0]\"\n",
        "lib/shout.tcl": "proc shout {s} { return \"[string toupper $s]!\" }\n",
    },
    "awk": {
        "main.awk": '@include "lib/shout.awk"\nBEGIN { print shout("awk") " " ARGV[1]; exit 0 }\n',
        "lib/shout.awk": 'function shout(s) { return toupper(s) "!" }\n',
    },
    "scheme": {
        "main.scm": "(use-modules (lib shout))\n(display (string-append (shout \"scheme\") \" \" (cadr (command-line))))\n"
                    "(newline)\n",
        "lib/shout.scm": "(define-module (lib shout) #:export (shout))\n"
                         "(define (shout s) (string-append (string-upcase s) \"!\"))\n",
    },
    "r": {
        "main.r": 'source("lib/shout.r")\ncat(shout("r"), " ", commandArgs(trailingOnly = TRUE)[1], "\\n", sep = "")\n',
        "lib/shout.r": 'shout <- function(s) paste0(toupper(s), "!")\n',
    },
    "fortran": {
        "main.f90": "program main\n  use shout_mod\n  character(len=32) :: arg\n  call get_command_argument(1, arg)\n"
                    "  print '(A)', shout('fortran') // ' ' // trim(arg)\nend program main\n",
        "shout_mod.f90": "module shout_mod\ncontains\n  function shout(s) result(r)\n    character(len=*), intent(in) :: s\n"
                         "    character(len=len(s)+1) :: r\n    integer :: i\n    r = s // '!'\n    do i = 1, len(s)\n"
                         "      if (r(i:i) >= 'a' .and. r(i:i) <= 'z') r(i:i) = achar(iachar(r(i:i)) - 32)\n"
                         "    end do\n  end function shout\nend module shout_mod\n",
    },
    "ada": {
        "main.adb": "with Ada.Text_IO;\nwith Ada.Command_Line;\nwith Shout;\nprocedure Main is\nbegin\n"
                    "   Ada.Text_IO.Put_Line (Shout.It (\"ada\") & \" \" & Ada.Command_Line.Argument (1));\nend Main;\n",
        "shout.ads": "package Shout is\n   function It (S : String) return String;\nend Shout;\n",
        "shout.adb": "with Ada.Characters.Handling;\npackage body Shout is\n   function It (S : String) return String is\n"
                     "   begin\n      return Ada.Characters.Handling.To_Upper (S) & \"!\";\n   end It;\nend Shout;\n",
    },
    "pascal": {
        "main.pas": "program Main;\nuses shout;\nbegin\n  writeln(ShoutIt('pascal'), ' ', ParamStr(1));\nend.\n",
        "shout.pas": "unit shout;\ninterface\nfunction ShoutIt(s: string): string;\nimplementation\nuses SysUtils;\n"
                     "function ShoutIt(s: string): string;\nbegin\n  ShoutIt := UpperCase(s) + '!';\nend;\nend.\n",
    },
    "d": {
        "main.d": "import std.stdio;\nimport lib.shout;\n\nvoid main(string[] args) { writeln(shout(\"d\"), \" \", args[1]); }\n",
        "lib/shout.d": "module lib.shout;\nimport std.uni : toUpper;\n\nstring shout(string s) { return s.toUpper ~ \"!\"; }\n",
    },
    "cobol": {
        "main.cob": "       IDENTIFICATION DIVISION.\n       PROGRAM-ID. MAIN.\n       DATA DIVISION.\n"
                    "       WORKING-STORAGE SECTION.\n       01 WORD PIC X(5) VALUE \"cobol\".\n"
                    "       01 ARG  PIC X(8).\n       PROCEDURE DIVISION.\n           CALL \"SHOUT\" USING WORD\n"
                    "           ACCEPT ARG FROM ARGUMENT-VALUE\n           DISPLAY WORD \"! \" FUNCTION TRIM(ARG)\n"
                    "           STOP RUN.\n",
        "shout.cob": "       IDENTIFICATION DIVISION.\n       PROGRAM-ID. SHOUT.\n       DATA DIVISION.\n"
                     "       LINKAGE SECTION.\n       01 WORD PIC X(5).\n       PROCEDURE DIVISION USING WORD.\n"
                     "           MOVE FUNCTION UPPER-CASE(WORD) TO WORD\n           GOBACK.\n",
    },
    "crystal": {
        "main.cr": 'require "./lib/shout"\n\nputs "#{Shout.it("crystal")} #{ARGV[0]}"\n',
        "lib/shout.cr": "module Shout\n  def self.it(s : String) : String\n    s.upcase + \"!\"\n  end\nend\n",
    },
    "erlang": {
        "main.erl": "-module(main).\n-export([main/1]).\n\nmain([Arg | _]) -> io:format(\"~s ~s~n\", [shout:it(\"erlang\"), Arg]).\n",
        "shout.erl": "-module(shout).\n-export([it/1]).\n\nit(S) -> string:uppercase(S) ++ \"!\".\n",
    },
    "elixir": {
        "main.exs": "[arg | _] = System.argv()\nIO.puts(\"#{Shout.it(\"elixir\")} #{arg}\")\n",
        "lib/shout.ex": "defmodule Shout do\n  def it(s), do: String.upcase(s) <> \"!\"\nend\n",
    },
    "kotlin": {
        "main.kt": "import util.shout\n\nfun main(args: Array<String>) {\n    println(shout(\"kotlin\") + \" \" + args[0])\n}\n",
        "util/Shout.kt": "package util\n\nfun shout(s: String): String = s.uppercase() + \"!\"\n",
    },
    "scala": {
        "main.scala": "@main def run(arg: String): Unit = println(s\"${Shout.it(\"scala\")} $arg\")\n",
        "util/Shout.scala": "object Shout:\n  def it(s: String): String = s.toUpperCase + \"!\"\n",
    },
    "clojure": {
        "main.clj": "(require '[lib.shout :as s])\n(println (s/it \"clojure\") (first *command-line-args*))\n",
        "lib/shout.clj": "(ns lib.shout (:require [clojure.string :as str]))\n(defn it [s] (str (str/upper-case s) \"!\"))\n",
    },
    "ocaml": {
        "main.ml": "let () = Printf.printf \"%s %s\\n\" (Shout.it \"ocaml\") Sys.argv.(1)\n",
        "shout.ml": "let it s = String.uppercase_ascii s ^ \"!\"\n",
    },
    "lisp": {
        "main.lisp": "(load \"lib/shout.lisp\")\n(format t \"~a ~a~%\" (shout \"lisp\") (second sb-ext:*posix-argv*))\n",
        "lib/shout.lisp": "(defun shout (s) (concatenate 'string (string-upcase s) \"!\"))\n",
    },
    "racket": {
        "main.rkt": "#lang racket/base\n(require \"lib/shout.rkt\")\n"
                    "(printf \"~a ~a\\n\" (shout \"racket\") (vector-ref (current-command-line-arguments) 0))\n",
        "lib/shout.rkt": "#lang racket/base\n(provide shout)\n(define (shout s) (string-append (string-upcase s) \"!\"))\n",
    },
    "prolog": {
        "main.pl": ":- use_module(lib/shout).\n:- initialization(main, main).\n\n"
                   "main([Arg|_]) :- shout(prolog, S), format(\"~w ~w~n\", [S, Arg]).\n",
        "lib/shout.pl": ":- module(shout, [shout/2]).\n\n"
                        "shout(Word, S) :- upcase_atom(Word, Up), atom_concat(Up, '!', S).\n",
    },
    "haskell": {
        "main.hs": "import Lib.Shout (shout)\nimport System.Environment (getArgs)\n\n"
                   "main :: IO ()\nmain = do\n  args <- getArgs\n  putStrLn (shout \"haskell\" ++ \" \" ++ head args)\n",
        "Lib/Shout.hs": "module Lib.Shout (shout) where\n\nimport Data.Char (toUpper)\n\n"
                        "shout :: String -> String\nshout s = map toUpper s ++ \"!\"\n",
    },
    "csharp": {
        "main.cs": "using System;\n\npublic class Program {\n    public static void Main(string[] args) {\n"
                   "        Console.WriteLine(Lib.Shout.It(\"csharp\") + \" \" + args[0]);\n    }\n}\n",
        "Lib/Shout.cs": "namespace Lib {\n    public static class Shout {\n"
                        "        public static string It(string s) { return s.ToUpper() + \"!\"; }\n    }\n}\n",
    },
}


def test_every_runtime_of_an_image_that_tells_its_versions_has_a_multi_file_program():
    # The trixie images are the ones with a throwbox-versions script (several runtimes each).
    trixie = {r.language for r in REGISTRY.runtimes
              if (REPO / "runtimes" / "images" / r.image.split(":")[0].split("/")[1] / "throwbox-versions").is_file()}
    assert trixie == set(PROGRAMS)


@pytest.mark.parametrize("language", list(PROGRAMS))
def test_a_program_of_several_files_builds_and_runs(language):
    runtime = REGISTRY.resolve(language)
    result = run_runtime(runtime, PROGRAMS[language], args=["x"])
    assert result.launch_error is None, result.launch_error
    assert result.compiled in (None, {"exit_code": 0, "signal": None}), result.compile_output
    assert result.stdout == f"{language.upper()}! x\n", (result.stdout, result.stderr_text, result.compile_output)
    assert result.exited["exit_code"] == 0, (result.exited, result.stderr_text)
