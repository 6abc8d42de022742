// SPDX-License-Identifier: MIT
// std::hash, std::equal_to and std::less<>, the function objects weakref names, without the
// rest of <functional>.
#pragma once

// The standard puts them in <functional>, which in C++17 also brings std::function, std::bind,
// the searchers (with <vector> and <unordered_map> behind them) and much of <algorithm>: about
// as much again as <memory> and <unordered_map> together. <memory> needs all three itself
// (std::hash<std::shared_ptr>, std::owner_less, std::unique_ptr's comparisons), and libstdc++ and
// libc++ define them there. Elsewhere, <functional>.
#include <memory>

#if !defined(__GLIBCXX__) && !defined(_LIBCPP_VERSION)
#include <functional>
#endif
