// The configuration reader is above the keystore: SignerPool is given
// KeystoreSettings and the [[signer]] entries, never the whole Config. Must
// fail to compile on the include (CMakeLists.txt, include_rules).
#include "ribbon/config.hpp"
