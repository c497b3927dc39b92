// backends.hpp — how store.cpp reaches the two backends of the recipients
// store. Private to the store layer.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "ribbon/recipients.hpp"

namespace ribbon::store {

// `file` is absolute; its directory must exist. Created (mode 0640, less
// what the umask takes) when absent. `access`: RecipientStore::open's.
Result<std::unique_ptr<RecipientStore>> open_sqlite(const std::filesystem::path& file,
                                                    StoreAccess access);

// `url` is a libpq connection URI ("postgresql://..."), scheme in lower case.
Result<std::unique_ptr<RecipientStore>> open_postgres(const std::string& url);

// `url` with the password in its user information and any "password="
// parameter replaced by "***": what error messages and logs may show.
std::string mask_url(std::string_view url);

// `text` (a library's message about `url`, which may quote it) with every
// occurrence of the URL's secrets replaced by "***".
std::string without_secrets(std::string text, std::string_view url);

}  // namespace ribbon::store
