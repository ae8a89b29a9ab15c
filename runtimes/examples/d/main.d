import std.stdio;
import std.string : strip;

int main(string[] args)
{
    auto line = stdin.readln();
    writeln("Hello, ", line is null ? "" : line.strip, "!");
    if (args.length > 1)
    {
        foreach (arg; args[1 .. $])
            writeln("arg: ", arg);
        writeln("Grüße, 世界 ✓");
        return 3;
    }
    return 0;
}
