/* stb_image's implementation (Debian libstb-dev ships the header only as a library we compile once): the
 * decoders plinth accepts (PNG, JPEG, BMP, GIF), no file I/O (io/image.c reads the file and checks the header
 * first), allocation through malloc. Its own code is not held to plinth's warning flags. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wall"
#pragma GCC diagnostic ignored "-Wextra"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#define STB_IMAGE_IMPLEMENTATION
#define STBI_NO_STDIO
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_ONLY_BMP
#define STBI_ONLY_GIF
#include <stb/stb_image.h>
#pragma GCC diagnostic pop
