use std::io::{self, BufRead};
use std::process::exit;

fn main() {
    let mut name = String::new();
    io::stdin().lock().read_line(&mut name).expect("read stdin");
    println!("Hello, {}!", name.trim());
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.is_empty() {
        for arg in &args {
            println!("arg: {}", arg);
        }
        println!("Grüße, 世界 ✓");
        exit(3);
    }
}
