using System;

public class Program
{
    public static int Main(string[] args)
    {
        Console.OutputEncoding = new System.Text.UTF8Encoding(false);
        string name = (Console.In.ReadLine() ?? "").Trim();
        Console.WriteLine("Hello, " + name + "!");
        if (args.Length == 0) return 0;
        foreach (string arg in args) Console.WriteLine("arg: " + arg);
        Console.WriteLine("Grüße, 世界 ✓");
        return 3;
    }
}
