// The control for the include_rules cases on the configuration reader: the
// policy's exported address rules and every public header below it compile
// from config's view (CMakeLists.txt, include_rules).
#include "policy/addresses.hpp"
#include "ribbon/config.hpp"
#include "ribbon/network.hpp"
#include "ribbon/recipient_policy.hpp"
