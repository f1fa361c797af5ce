/* /hogs/hog4 - see hog.h */
#define HOG_ID 4
#define HOG_MB 48
#include "hog.h"
