BEGIN {
    getline name < "/dev/stdin"
    print "Hello, " name "!"
    if (ARGC > 1) {
        for (i = 1; i < ARGC; i++) print "arg: " ARGV[i]
        print "Grüße, 世界 ✓"
        exit 3
    }
    exit 0
}
