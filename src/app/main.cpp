// moqa-pipeline: see app/pipeline_main.h.
#include "app/pipeline_main.h"

int main(int argc, char** argv) { return moqa::app::pipeline_main(argc, argv); }
