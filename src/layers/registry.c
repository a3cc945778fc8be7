#include "ck_layers.h"

#include <string.h>

#define CK_LAYER(ops) extern const ck_layer_ops ops;
#include "registry.def"
#undef CK_LAYER

static const ck_layer_ops *const registry[] = {
#define CK_LAYER(ops) &ops,
#include "registry.def"
#undef CK_LAYER
};

const ck_layer_ops *ck_layer_ops_find(const char *class_name)
{
    for (size_t i = 0; i < sizeof registry / sizeof registry[0]; i++)
        if (strcmp(registry[i]->class_name, class_name) == 0)
            return registry[i];
    return NULL;
}
