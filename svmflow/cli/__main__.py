from svmflow.cli import main

raise SystemExit(main())
