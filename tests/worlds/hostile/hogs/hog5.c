/* /hogs/hog5 - see hog.h */
#define HOG_ID 5
#define HOG_MB 48
#include "hog.h"
