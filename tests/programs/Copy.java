// Java's two common ways to copy a file, for tests/programs.bats:
//   java Copy.java files SRC DST    Files.copy (sendfile64 in 2 GiB calls)
//   java Copy.java stream SRC DST   InputStream.transferTo (8 KiB read/write)
import java.io.*;
import java.nio.file.*;

public class Copy {
    public static void main(String[] a) throws Exception {
        if (a[0].equals("files")) {
            Files.copy(Paths.get(a[1]), Paths.get(a[2]));
        } else {
            try (InputStream i = new FileInputStream(a[1]); OutputStream o = new FileOutputStream(a[2])) {
                i.transferTo(o);
            }
        }
    }
}
