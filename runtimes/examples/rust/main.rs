use std::io::{self, BufRead};

fn main() {
    let mut name = String::new();
    io::stdin().lock().read_line(&mut name).expect("read stdin");
    println!("Hello, {}!", name.trim());
}
