#include <iostream>
int main() { std::cout << "attnd\n"; }
