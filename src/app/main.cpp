#include <iostream>
int main() { std::cout << "moqa-pipeline: not wired yet\n"; return 0; }
