// A header private to core: the keystore gets DigitalId as OpenSSL objects
// through core/openssl_objects.hpp, never DigitalId::Impl. Must fail to
// compile on the include (CMakeLists.txt, include_rules).
#include "core/digital_id_impl.hpp"
