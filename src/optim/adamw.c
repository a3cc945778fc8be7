/* keras.optimizers.AdamW: Adam with decoupled weight decay (default
 * 0.004), w -= w * weight_decay * lr before each Adam step; the decay
 * itself is applied by the common step (optimizer.c), as Keras 3's base
 * optimizer applies it for every class. */
#include "ck_optim.h"

static ck_status adamw_prepare(ck_optimizer_options *o)
{
    ck_optimizer_default(o, CK_OPT_WEIGHT_DECAY, &o->weight_decay, 0.004);
    return ck_adam_defaults(o, "AdamW");
}

const ck_optimizer_kind ck_optimizer_adamw = {
    .name = "adamw",
    .class_name = "AdamW",
    .prepare = adamw_prepare,
    .slots = ck_adam_slots,
    .update = ck_adam_update,
    .to_json = ck_adam_to_json,
};
