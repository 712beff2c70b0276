// Plain libjpeg-turbo decode of one JPEG from memory, the yardstick for Auge's wrapper.
// Same settings as Auge (ISLOW IDCT, RGB output, one scanline per call); scale 1 and 1/4.
// Build: cc -O2 bench/jpeg_baseline.c -ljpeg -o /tmp/jpeg_baseline
#include <stdio.h>
#include <stdlib.h>
#include <jpeglib.h>
#include <time.h>

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int compare(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static unsigned char decode(const unsigned char *data, size_t size, unsigned denom) {
    struct jpeg_decompress_struct cinfo;
    struct jpeg_error_mgr err;
    cinfo.err = jpeg_std_error(&err);
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, data, size);
    jpeg_read_header(&cinfo, TRUE);
    cinfo.scale_num = 1;
    cinfo.scale_denom = denom;
    cinfo.out_color_space = JCS_RGB;
    cinfo.dct_method = JDCT_ISLOW;
    jpeg_start_decompress(&cinfo);
    size_t stride = cinfo.output_width * 3;
    unsigned char *pixels = malloc(stride * cinfo.output_height);
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW row = pixels + stride * cinfo.output_scanline;
        jpeg_read_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_decompress(&cinfo);
    unsigned char probe = pixels[stride * cinfo.output_height / 2];
    free(pixels);
    jpeg_destroy_decompress(&cinfo);
    return probe;
}

static unsigned char *read_file(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) { perror(path); exit(1); }
    fseek(f, 0, SEEK_END);
    *size = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *data = malloc(*size);
    if (fread(data, 1, *size, f) != *size) { perror(path); exit(1); }
    fclose(f);
    return data;
}

// Folder mode: read and decode every listed file once at 1/denom scale, print images/s.
static int decode_files(int count, char **paths, unsigned denom) {
    double start = now_ms();
    int checksum = 0;
    for (int i = 0; i < count; i++) {
        size_t size;
        unsigned char *data = read_file(paths[i], &size);
        checksum += decode(data, size, denom);
        free(data);
    }
    double elapsed = now_ms() - start;
    printf("files=%d seconds=%.4f images_per_s=%.2f checksum=%d\n", count, elapsed / 1e3, count / (elapsed / 1e3), checksum);
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 3 && argv[1][0] == '-' && argv[1][1] == 's') {  // -sN FILE...: folder mode at scale 1/N
        return decode_files(argc - 2, argv + 2, (unsigned)atoi(argv[1] + 2));
    }
    if (argc < 2) { fprintf(stderr, "usage: jpeg_baseline FILE.jpg [runs] | jpeg_baseline -sN FILE...\n"); return 2; }
    int runs = argc > 2 ? atoi(argv[2]) : 100;
    size_t size;
    unsigned char *data = read_file(argv[1], &size);
    const char *names[2] = {"full", "scaled-224"};
    unsigned denoms[2] = {1, 4};  // 1920x1080 at 1/4 = 480x270, the scale Auge picks for 224x224
    double *times = malloc(sizeof(double) * runs);
    for (int v = 0; v < 2; v++) {
        int checksum = 0;
        for (int r = 0; r < runs + 5; r++) {
            double t = now_ms();
            checksum += decode(data, size, denoms[v]);
            if (r >= 5) times[r - 5] = now_ms() - t;
        }
        qsort(times, runs, sizeof(double), compare);
        printf("%s median_ms=%.3f p90_ms=%.3f checksum=%d\n", names[v], times[runs / 2], times[(int)(runs * 0.9)], checksum);
    }
    return 0;
}
