<?php
$name = trim((string) fgets(STDIN));
echo "Hello, $name!\n";
$args = array_slice($argv, 1);
if (count($args) > 0) {
    foreach ($args as $arg) {
        echo "arg: $arg\n";
    }
    echo "Grüße, 世界 ✓\n";
    exit(3);
}
