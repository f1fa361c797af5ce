/* /hogs/hog3 - see hog.h */
#define HOG_ID 3
#define HOG_MB 48
#include "hog.h"
