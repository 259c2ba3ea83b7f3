import os
import sys

print "converting", sys.argv[1]
exec "import os; os.system('echo quarantine-sample')"
