// A header private to a lower layer: the policy checks keystore addresses
// with ks::normalise_address from ribbon/keystore.hpp, not the keystore's
// file rules. Must fail to compile on the include (CMakeLists.txt, include_rules).
#include "keystore/files.hpp"
