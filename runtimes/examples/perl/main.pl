use strict;
use warnings;

my $name = <STDIN> // "";
chomp $name;
print "Hello, $name!\n";
if (@ARGV) {
    print "arg: $_\n" for @ARGV;
    print "Grüße, 世界 ✓\n";
    exit 3;
}
