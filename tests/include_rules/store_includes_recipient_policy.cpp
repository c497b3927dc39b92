// An upward include: the recipient policy uses the store, not the other way.
// Must fail to compile on the include (CMakeLists.txt, include_rules).
#include "ribbon/recipient_policy.hpp"
