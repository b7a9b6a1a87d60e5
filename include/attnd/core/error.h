// Errors and checks. Two kinds matter to a user:
//  - InputError: the user gave something wrong (file, key, argument, shape). The CLI exits 2.
//  - Error (and anything else): a failure while running (NaN loss, I/O failure). The CLI exits 1.
// ATTND_CHECK is for internal invariants and adds file:line; ATTND_CHECK_INPUT is for user input
// and keeps the message clean, since it is read by the person who made the mistake.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace attnd {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Bad input from the user: missing/corrupt file, wrong shape, unknown key, bad argument.
class InputError : public Error {
 public:
  using Error::Error;
};

namespace detail {
template <typename... Args>
std::string concat(Args&&... args) {
  std::ostringstream out;
  (out << ... << std::forward<Args>(args));
  return out.str();
}
}  // namespace detail

template <typename... Args>
[[noreturn]] void throw_input_error(Args&&... args) {
  throw InputError(detail::concat(std::forward<Args>(args)...));
}

template <typename... Args>
[[noreturn]] void throw_error(Args&&... args) {
  throw Error(detail::concat(std::forward<Args>(args)...));
}

}  // namespace attnd

#define ATTND_CHECK(cond, ...)                                                              \
  do {                                                                                      \
    if (!(cond))                                                                            \
      ::attnd::throw_error(__FILE__, ":", __LINE__, ": check failed (" #cond "): ",         \
                           ##__VA_ARGS__);                                                  \
  } while (0)

#define ATTND_CHECK_INPUT(cond, ...)                                                        \
  do {                                                                                      \
    if (!(cond)) ::attnd::throw_input_error(__VA_ARGS__);                                   \
  } while (0)
