import kotlin.system.exitProcess

fun main(args: Array<String>) {
    val name = readLine()?.trim() ?: ""
    println("Hello, $name!")
    if (args.isNotEmpty()) {
        args.forEach { println("arg: $it") }
        println("Grüße, 世界 ✓")
        exitProcess(3)
    }
}
