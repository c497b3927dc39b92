// An upward include: core is the bottom layer and must not see the keystore's
// headers. Must fail to compile on the include (CMakeLists.txt, include_rules).
#include "ribbon/keystore.hpp"
