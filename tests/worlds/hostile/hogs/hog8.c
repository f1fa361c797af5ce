/* /hogs/hog8 - see hog.h */
#define HOG_ID 8
#define HOG_MB 48
#include "hog.h"
