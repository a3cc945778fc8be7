/* Built against the installed library with nothing but its public header:
 * a Dense layer with a kernel of ones maps (1, 2, 3) to (6, 6). */
#include <ckeras.h>

#include <stdio.h>

int main(void)
{
    ck_model *m = ck_sequential(.seed = 1);
    ck_status st = ck_model_add(m, ck_input(3));
    if (st == CK_OK)
        st = ck_model_add(m, ck_dense(2, .kernel_initializer = CK_INIT("ones")));
    float x[3] = {1, 2, 3}, y[2] = {0};
    if (st == CK_OK)
        st = ck_model_predict(m, x, 1, y);
    ck_model_free(m);
    if (st != CK_OK) {
        fprintf(stderr, "install check: %s\n", ck_last_error());
        return 1;
    }
    printf("install check: %g %g\n", (double)y[0], (double)y[1]);
    return y[0] == 6.0f && y[1] == 6.0f ? 0 : 1;
}
