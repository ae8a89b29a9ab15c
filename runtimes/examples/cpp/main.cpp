#include <iostream>
#include <string>

int main(int argc, char **argv) {
    std::string name;
    std::getline(std::cin, name);
    std::cout << "Hello, " << name << "!" << std::endl;
    if (argc > 1) {
        for (int i = 1; i < argc; i++) std::cout << "arg: " << argv[i] << "\n";
        std::cout << "Grüße, 世界 ✓" << std::endl;
        return 3;
    }
    return 0;
}
