import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

public class Main {
    public static void main(String[] args) throws IOException {
        PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String name = in.readLine();
        out.println("Hello, " + (name == null ? "" : name.trim()) + "!");
        if (args.length > 0) {
            for (String arg : args) out.println("arg: " + arg);
            out.println("Gr\u00fc\u00dfe, \u4e16\u754c \u2713");  // javac may not read the source as UTF-8
            System.exit(3);
        }
    }
}
