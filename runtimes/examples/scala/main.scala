@main def hello(args: String*): Unit =
  val name = Option(scala.io.StdIn.readLine()).map(_.trim).getOrElse("")
  println(s"Hello, $name!")
  if args.nonEmpty then
    args.foreach(arg => println(s"arg: $arg"))
    println("Grüße, 世界 ✓")
    sys.exit(3)
