/* How the constructor macros of ckeras.h (ck_dense(...), ck_adam(...),
 * ck_model_fit(...), ...) fill their options structs; included by ckeras.h.
 *
 * In C an options struct is a compound literal, alive to the end of the
 * enclosing block. C++ has no compound literals, so there it is a temporary,
 * alive to the end of the full expression: pass a constructor's result
 * straight to the call that uses it, as in the examples. In C++ the options
 * are designated initializers, all named and in the order the struct
 * declares them (the C++20 rule; g++ and clang++ accept it with -std=c++17):
 *     ck_model_add(m, ck_dense(.units = 2, .activation = "relu"));
 * where C may also write ck_dense(2, .activation = "relu"). */
#ifndef CKERAS_OPTIONS_H
#define CKERAS_OPTIONS_H

#ifdef __cplusplus
/* Options left out are zero, their Keras default, by design: g++ -Wextra
 * would warn about each one in every expansion, and a system header's
 * macros are exempt. */
#pragma GCC system_header
extern "C++" {
template <class T> inline T *ck_temporary_address_(T &&value)
{
    return &value;
}
}
#define CK_ADDR_(type, ...) ck_temporary_address_(type{__VA_ARGS__})
#define CK_VALUE_(type, ...) (type{__VA_ARGS__})
#else
#define CK_ADDR_(type, ...) (&(type){__VA_ARGS__})
#define CK_VALUE_(type, ...) ((type){__VA_ARGS__})
#endif

#endif
