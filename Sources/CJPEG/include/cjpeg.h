#pragma once
#include <stddef.h>
int cjpeg_placeholder(void);
