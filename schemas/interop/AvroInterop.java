// Cross-check of the TypeScript codec against Apache Avro's Java implementation.
//
//   java -cp <classpath> AvroInterop.java fingerprints <schemaDir> <historyDir>
//       one line per schema: <where>\t<full name>\t<CRC-64-AVRO fingerprint, 16 hex>\t<canonical form>
//   java -cp <classpath> AvroInterop.java encode <schemaDir>
//       stdin:  <Name>\t<value in Avro JSON encoding>
//       stdout: <hex of the single-object encoding (BinaryMessageEncoder)>
//   java -cp <classpath> AvroInterop.java decode <schemaDir> <historyDir>
//       stdin:  <Name>\t<hex of a single-object encoded message>
//       stdout: <the value decoded by BinaryMessageDecoder into the current schema, Avro JSON>
//               or ERROR\t<exception> when it cannot be decoded
//   java -cp <classpath> AvroInterop.java compat
//       stdin:  <reader schema JSON>\t<writer schema JSON>
//       stdout: COMPATIBLE | INCOMPATIBLE\t<description>   (SchemaCompatibility)
//
// <schemaDir> holds <Name>.avsc per message and common/*.avsc for shared named types;
// <historyDir> holds <Name>/<n>.avsc, each self-contained.

import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.apache.avro.Schema;
import org.apache.avro.SchemaCompatibility;
import org.apache.avro.SchemaNormalization;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericDatumWriter;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.DecoderFactory;
import org.apache.avro.io.EncoderFactory;
import org.apache.avro.io.JsonEncoder;
import org.apache.avro.message.BinaryMessageDecoder;
import org.apache.avro.message.BinaryMessageEncoder;

public class AvroInterop {

  public static void main(String[] args) throws Exception {
    if (args.length < 1) usage();
    PrintStream out = new PrintStream(System.out, false, StandardCharsets.UTF_8);
    switch (args[0]) {
      case "fingerprints":
        if (args.length != 3) usage();
        fingerprints(new File(args[1]), new File(args[2]), out);
        break;
      case "encode":
        if (args.length != 2) usage();
        encode(currentSchemas(new File(args[1])), out);
        break;
      case "decode":
        if (args.length != 3) usage();
        decode(currentSchemas(new File(args[1])), historySchemas(new File(args[2])), out);
        break;
      case "compat":
        compat(out);
        break;
      default:
        usage();
    }
    out.flush();
  }

  private static void usage() {
    System.err.println("usage: AvroInterop fingerprints <schemaDir> <historyDir> | encode <schemaDir>"
        + " | decode <schemaDir> <historyDir> | compat");
    System.exit(2);
  }

  private static File[] avscFiles(File dir) {
    File[] files = dir.listFiles((d, name) -> name.endsWith(".avsc"));
    if (files == null) return new File[0];
    Arrays.sort(files);
    return files;
  }

  /** Current message schemas by message name, parsed after the shared named types. */
  static Map<String, Schema> currentSchemas(File schemaDir) throws IOException {
    Schema.Parser parser = new Schema.Parser();
    // Shared types may refer to each other: parse them in whatever order works.
    List<File> pending = new ArrayList<>(Arrays.asList(avscFiles(new File(schemaDir, "common"))));
    while (!pending.isEmpty()) {
      List<File> failed = new ArrayList<>();
      RuntimeException last = null;
      for (File f : pending) {
        try {
          Schema.Parser attempt = new Schema.Parser();
          attempt.addTypes(parser.getTypes().values());
          attempt.parse(f);
          parser.addTypes(attempt.getTypes().values());
        } catch (RuntimeException e) {
          failed.add(f);
          last = e;
        }
      }
      if (failed.size() == pending.size()) throw last;
      pending = failed;
    }
    Map<String, Schema> shared = parser.getTypes();
    Map<String, Schema> result = new LinkedHashMap<>();
    for (File f : avscFiles(schemaDir)) {
      Schema.Parser p = new Schema.Parser();
      p.addTypes(shared.values());
      Schema schema = p.parse(f);
      result.put(f.getName().replaceFirst("\\.avsc$", ""), schema);
    }
    return result;
  }

  /** Released versions by message name, oldest first; each file parsed on its own. */
  static Map<String, List<Schema>> historySchemas(File historyDir) throws IOException {
    Map<String, List<Schema>> result = new LinkedHashMap<>();
    File[] dirs = historyDir.listFiles(File::isDirectory);
    if (dirs == null) return result;
    Arrays.sort(dirs);
    for (File dir : dirs) {
      File[] files = avscFiles(dir);
      Arrays.sort(files, (a, b) -> Integer.compare(version(a), version(b)));
      List<Schema> versions = new ArrayList<>();
      for (File f : files) versions.add(new Schema.Parser().parse(f));
      result.put(dir.getName(), versions);
    }
    return result;
  }

  private static int version(File f) {
    return Integer.parseInt(f.getName().replaceFirst("\\.avsc$", ""));
  }

  private static String line(String where, Schema schema) {
    long fp = SchemaNormalization.parsingFingerprint64(schema);
    return where + "\t" + schema.getFullName() + "\t" + String.format("%016x", fp) + "\t"
        + SchemaNormalization.toParsingForm(schema);
  }

  static void fingerprints(File schemaDir, File historyDir, PrintStream out) throws IOException {
    for (Map.Entry<String, Schema> e : currentSchemas(schemaDir).entrySet()) {
      out.println(line("current/" + e.getKey(), e.getValue()));
    }
    File[] dirs = historyDir.listFiles(File::isDirectory);
    if (dirs == null) return;
    Arrays.sort(dirs);
    for (File dir : dirs) {
      for (File f : avscFiles(dir)) {
        out.println(line("history/" + dir.getName() + "/" + version(f), new Schema.Parser().parse(f)));
      }
    }
  }

  static void encode(Map<String, Schema> schemas, PrintStream out) throws IOException {
    Map<String, BinaryMessageEncoder<GenericRecord>> encoders = new LinkedHashMap<>();
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    String l;
    while ((l = in.readLine()) != null) {
      if (l.isEmpty()) continue;
      int tab = l.indexOf('\t');
      String name = l.substring(0, tab);
      Schema schema = schemas.get(name);
      if (schema == null) throw new IllegalArgumentException("unknown message " + name);
      GenericDatumReader<GenericRecord> reader = new GenericDatumReader<>(schema);
      GenericRecord record = reader.read(null, DecoderFactory.get().jsonDecoder(schema, l.substring(tab + 1)));
      BinaryMessageEncoder<GenericRecord> encoder =
          encoders.computeIfAbsent(name, n -> new BinaryMessageEncoder<>(GenericData.get(), schema));
      out.println(hex(encoder.encode(record)));
    }
  }

  static void decode(Map<String, Schema> schemas, Map<String, List<Schema>> history, PrintStream out)
      throws IOException {
    Map<String, BinaryMessageDecoder<GenericRecord>> decoders = new LinkedHashMap<>();
    for (Map.Entry<String, Schema> e : schemas.entrySet()) {
      BinaryMessageDecoder<GenericRecord> decoder = new BinaryMessageDecoder<>(GenericData.get(), e.getValue());
      for (Schema old : history.getOrDefault(e.getKey(), List.of())) decoder.addSchema(old);
      decoders.put(e.getKey(), decoder);
    }
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    String l;
    while ((l = in.readLine()) != null) {
      if (l.isEmpty()) continue;
      int tab = l.indexOf('\t');
      String name = l.substring(0, tab);
      BinaryMessageDecoder<GenericRecord> decoder = decoders.get(name);
      if (decoder == null) throw new IllegalArgumentException("unknown message " + name);
      GenericRecord record;
      try {
        record = decoder.decode(unhex(l.substring(tab + 1)));
      } catch (Exception e) {
        out.println("ERROR\t" + e.getClass().getSimpleName() + ": " + String.valueOf(e.getMessage()).replace('\n', ' '));
        continue;
      }
      Schema schema = schemas.get(name);
      ByteArrayOutputStream buf = new ByteArrayOutputStream();
      JsonEncoder json = EncoderFactory.get().jsonEncoder(schema, buf);
      new GenericDatumWriter<GenericRecord>(schema).write(record, json);
      json.flush();
      out.println(buf.toString(StandardCharsets.UTF_8));
    }
  }

  static void compat(PrintStream out) throws IOException {
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    String l;
    while ((l = in.readLine()) != null) {
      if (l.isEmpty()) continue;
      int tab = l.indexOf('\t');
      Schema reader = new Schema.Parser().parse(l.substring(0, tab));
      Schema writer = new Schema.Parser().parse(l.substring(tab + 1));
      SchemaCompatibility.SchemaPairCompatibility result =
          SchemaCompatibility.checkReaderWriterCompatibility(reader, writer);
      if (result.getType() == SchemaCompatibility.SchemaCompatibilityType.COMPATIBLE) {
        out.println("COMPATIBLE");
      } else {
        out.println("INCOMPATIBLE\t" + result.getDescription().replace('\n', ' '));
      }
    }
  }

  private static String hex(ByteBuffer b) {
    StringBuilder sb = new StringBuilder();
    ByteBuffer d = b.duplicate();
    while (d.hasRemaining()) sb.append(String.format("%02x", d.get() & 0xff));
    return sb.toString();
  }

  private static byte[] unhex(String s) {
    byte[] out = new byte[s.length() / 2];
    for (int i = 0; i < out.length; i++) {
      out[i] = (byte) Integer.parseInt(s.substring(2 * i, 2 * i + 2), 16);
    }
    return out;
  }
}
