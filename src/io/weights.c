/* Loading weights from an HDF5 file of any supported layout, through a
 * staging copy of the parameters (stage.c). */
#include "ck_io.h"

#include <stdlib.h>

/* Where the Keras 2 layout's layer groups are. A whole-model file keeps
 * them under /model_weights, and load_model reads only those; Keras 2
 * load_weights reads the root when it has layer_names and falls back to
 * /model_weights. A file with both means what Keras makes of it. */
bool ck_k2_root(hid_t file, bool whole_model, hid_t *root)
{
    if (!whole_model && ck_h5_has_attr(file, "layer_names")) {
        *root = H5Gopen2(file, "/", H5P_DEFAULT);
        return *root >= 0;
    }
    if (H5Lexists(file, "model_weights", H5P_DEFAULT) > 0) {
        *root = H5Gopen2(file, "model_weights", H5P_DEFAULT);
        if (*root >= 0 && ck_h5_has_attr(*root, "layer_names"))
            return true;
        if (*root >= 0)
            H5Gclose(*root);
    }
    return false;
}

ck_status ck_weights_read_h5(hid_t file, ck_model *m, const ck_weights_options *opts,
                             bool whole_model, bool fresh)
{
    bool by_name = opts && opts->by_name;
    float *stage = fresh ? m->params : ck_stage_new(m);
    if (!stage)
        return CK_ERR_MEMORY;
    hid_t root;
    ck_status st;
    if (ck_k2_root(file, whole_model, &root)) {
        st = ck_k2_read(root, m, opts, stage);
        H5Gclose(root);
    } else if (ck_k3_is_layout(file)) {
        st = by_name
                 ? ck_error(CK_ERR_UNSUPPORTED,
                            "by_name loading needs a legacy .h5 file; Keras 3 .weights.h5 files "
                            "identify layers by position only")
                 : ck_k3_read(file, m, stage);
    } else {
        st = ck_error(CK_ERR_FORMAT,
                      "the HDF5 file holds no Keras weights (no layer_names attribute, "
                      "no model_weights group and no Keras 3 'layers' group)");
    }
    if (st == CK_OK)
        ck_stage_commit(stage, m);
    if (!fresh)
        free(stage);
    return st;
}
