/* moonbar: a WAMP v2 router with a C core and Lua policy. */
#ifndef MOONBAR_H
#define MOONBAR_H

#define MOONBAR_VERSION "0.1.0"

#endif
