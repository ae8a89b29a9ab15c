"""Programs of several files, in every runtime, on the real stack: submitted through Kafka to a
private executor agent of this checkout, built and run in warm gVisor sandboxes as in production.

Each case is built exactly as docs/runtimes.md says (C: every `*.c`; C++: every
`*.cpp`/`*.cc`/`*.cxx`; Go: the top-level files, or a module when a go.mod is given; Java: every
`*.java`; Rust: the crate root and its `mod` tree; interpreted languages: the entry file, which
imports the others). Headers and data files sit beside the sources, some in subdirectories.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest
from agent_process import private_agent, private_pipeline
from pipeline import DEFAULT_LIMITS

from throwbox_common import runtimes
from throwbox_common.messages import JobFile, Limits, RunJob, now_ms

BUILD_LIMITS = {**DEFAULT_LIMITS, "wall_time_ms": 60_000, "cpu_time_ms": 60_000}
REGISTRY = runtimes.load()

pytestmark = pytest.mark.timeout(600)


@dataclass(frozen=True)
class Program:
    language: str
    files: dict[str, str]
    stdout: str
    entrypoint: str | None = None      # default: the runtime's

    def job(self, runtime: runtimes.Runtime | None = None) -> RunJob:
        # The server's maximum wall and CPU time: these tests check that several files build,
        # not how fast (rustc under gVisor took over 10 s on a loaded machine in a CI rehearsal).
        runtime = runtime or REGISTRY.resolve(self.language)
        return RunJob(
            run_id=f"t-{uuid.uuid4().hex[:20]}", tenant="multi-file-tests", language=runtime.language,
            version=runtime.version, entrypoint=self.entrypoint or runtime.entrypoint,
            files=[JobFile(name=n, content=c.encode()) for n, c in self.files.items()],
            limits=Limits(**BUILD_LIMITS), created_at_ms=now_ms(), args=["x"])


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
}


# Every case in every version of its language (runtimes.toml: the default and the older ones).
CASES = [(case, r) for case, program in PROGRAMS.items() for r in REGISTRY.runtimes if r.language == program.language]


@pytest.fixture(scope="module")
def agent():
    with private_agent(dict.fromkeys(sorted({r for _, r in CASES}, key=lambda r: r.key), 1), prefix="multi",
                       start_timeout_s=300) as a:
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
