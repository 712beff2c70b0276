import CJPEG
import CPNG
